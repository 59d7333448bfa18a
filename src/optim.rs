//! Optimizers whose state can be checkpointed and restored by name.
//!
//! tch's optimizers wrap libtorch's C++ ones and cannot save their state, so a
//! resumed run could not repeat an uninterrupted one. These small optimizers
//! follow PyTorch's `torch.optim` update rules (SGD, RMSprop, Adam) on plain
//! tensors; every update is a handful of in-place tensor ops under
//! [`tch::no_grad`], with no host reads, so they run on CUDA as on CPU.
//!
//! State is exposed as named tensors ([`Optimizer::state`]):
//!
//! - `"step"`: an int64 scalar, the number of [`Optimizer::step`] calls;
//! - `"step.<param>"`: an int64 scalar per parameter, the number of updates
//!   applied to it (a parameter with an undefined gradient is skipped, as in
//!   PyTorch); Adam's bias correction uses it, like PyTorch's per-parameter
//!   `state["step"]`;
//! - `"<buffer>.<param>"`: the parameter's buffers (`momentum`, `square_avg`,
//!   `grad_avg`, `exp_avg`, `exp_avg_sq`), present once the parameter has been
//!   updated at least once. Buffers are created lazily on a parameter's first
//!   update, exactly as PyTorch does (SGD's momentum buffer starts as the
//!   gradient itself).
//!
//! Hyper-parameters (learning rate, momentum, betas...) are not state: the
//! caller owns them and may change them between steps.

use std::collections::{HashMap, HashSet};

use tch::{nn, Device, Kind, Tensor};

use crate::error::{self, Result};

/// A parameter to optimise: its name (VarStore name, used to key the state) and
/// the tensor (requires_grad).
#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
}

impl Param {
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Param {
        Param {
            name: name.into(),
            tensor,
        }
    }
}

/// The trainable variables of `vs` with their names, sorted by name so that
/// state keys are stable. The tensors share storage with the VarStore's.
pub fn params_of(vs: &nn::VarStore) -> Vec<Param> {
    let vars = vs.variables_.lock().unwrap();
    let trainable: HashSet<usize> = vars
        .trainable_variables
        .iter()
        .filter(|v| v.tensor.numel() > 0)
        .map(|v| v.tensor.data_ptr() as usize)
        .collect();
    let mut params: Vec<Param> = vars
        .named_variables
        .iter()
        .filter(|(_, t)| {
            if t.numel() > 0 {
                trainable.contains(&(t.data_ptr() as usize))
            } else {
                t.requires_grad()
            }
        })
        .map(|(name, t)| Param::new(name.clone(), t.shallow_clone()))
        .collect();
    params.sort_by(|a, b| a.name.cmp(&b.name));
    params
}

/// Scales all gradients so that their total L2 norm (over all parameters, as
/// if concatenated) is at most `max_norm`, like
/// `torch.nn.utils.clip_grad_norm_`: the gradients are multiplied by
/// `min(1, max_norm / (norm + 1e-6))`, computed on the device (no host sync).
/// Parameters with an undefined gradient are ignored.
pub fn clip_grad_norm(params: &[Param], max_norm: f64) {
    let _ = clip_grad_norm_total(params, max_norm);
}

/// [`clip_grad_norm`], returning the total norm before clipping (a scalar
/// tensor on the gradients' device; reading it is the caller's host sync), as
/// `torch.nn.utils.clip_grad_norm_` does. Zero (on the CPU) without gradients.
pub fn clip_grad_norm_total(params: &[Param], max_norm: f64) -> Tensor {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = params
            .iter()
            .map(|p| p.tensor.grad())
            .filter(|g| g.defined())
            .collect();
        let Some(first) = grads.first() else {
            return Tensor::scalar_tensor(0.0, (Kind::Float, Device::Cpu));
        };
        let device = first.device();
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm().to_device(device)).collect();
        let total = Tensor::stack(&norms, 0).norm();
        // As PyTorch: max_norm / (total + 1e-6) is reciprocal(total + 1e-6) * max_norm.
        let coef = ((&total + 1e-6).reciprocal() * max_norm).clamp_max(1.0);
        for g in &grads {
            let mut g = g.shallow_clone();
            let _ = g.g_mul_(&coef.to_device(g.device()));
        }
        total
    })
}

pub trait Optimizer {
    /// Apply one update from the gradients currently in .grad() (params with an
    /// undefined grad are skipped).
    fn step(&mut self);
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    /// Restore from the tensors `state` returned; a missing or mis-shaped entry
    /// is an error naming it (nothing is changed then). Unknown keys are ignored.
    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()>;
    /// The parameters with their update counts and buffers.
    fn slots(&self) -> &Slots;
    fn slots_mut(&mut self) -> &mut Slots;

    /// Zero the gradients (in place, as tch does: they stay defined).
    fn zero_grad(&mut self) {
        self.slots_mut().zero_grad()
    }
    /// The parameters being optimised, in the order given to the constructor.
    fn params(&self) -> &[Param] {
        &self.slots().params
    }
    /// Named state tensors (e.g. "momentum.<param name>"), for checkpoints.
    /// They are copies: later steps do not change them.
    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots().state()
    }
}

/// A parameter's update count and lazily created buffers.
#[derive(Default)]
struct PState {
    /// Updates applied to the parameter.
    n: i64,
    bufs: Vec<(&'static str, Tensor)>,
}

impl PState {
    fn buf(&self, name: &str) -> Option<Tensor> {
        self.bufs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.shallow_clone())
    }

    /// The buffer `name`, created by `init` (from the parameter) on first use.
    fn buf_or(
        &mut self,
        name: &'static str,
        p: &Tensor,
        init: impl FnOnce(&Tensor) -> Tensor,
    ) -> Tensor {
        if let Some(t) = self.buf(name) {
            return t;
        }
        let t = init(&p.detach());
        self.bufs.push((name, t.shallow_clone()));
        t
    }
}

/// The gradient of `p` with L2 weight decay added (a new tensor when wd != 0),
/// or None when it is undefined.
fn grad_of(p: &Tensor, weight_decay: f64) -> Option<Tensor> {
    let g = p.grad();
    if !g.defined() {
        return None;
    }
    Some(if weight_decay != 0.0 {
        &g + p * weight_decay
    } else {
        g
    })
}

/// The parameters, update counts and buffers shared by all optimizers.
pub struct Slots {
    params: Vec<Param>,
    states: Vec<PState>,
    steps: i64,
}

impl Slots {
    fn new(params: Vec<Param>) -> Slots {
        let mut seen = HashSet::new();
        for p in &params {
            assert!(
                seen.insert(p.name.clone()),
                "optimizer: parameter {:?} given twice",
                p.name
            );
        }
        let states = params.iter().map(|_| PState::default()).collect();
        Slots {
            params,
            states,
            steps: 0,
        }
    }

    /// (parameter tensor, its state) for each parameter.
    fn iter_mut(&mut self) -> impl Iterator<Item = (&mut Tensor, &mut PState)> {
        self.params
            .iter_mut()
            .map(|p| &mut p.tensor)
            .zip(self.states.iter_mut())
    }

    fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.tensor.zero_grad();
        }
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        tch::no_grad(|| {
            let mut out = vec![("step".to_string(), int_scalar(self.steps))];
            for (p, st) in self.params.iter().zip(&self.states) {
                out.push((format!("step.{}", p.name), int_scalar(st.n)));
                let mut bufs: Vec<&(&str, Tensor)> = st.bufs.iter().collect();
                bufs.sort_by_key(|(b, _)| *b);
                for (b, t) in bufs {
                    out.push((format!("{b}.{}", p.name), t.copy()));
                }
            }
            out
        })
    }

    /// Loads `state`: "step" and every "step.<param>" are required; a parameter
    /// updated at least once needs every buffer in `required` and may have any
    /// of `known` (buffers the current settings do not use, kept for later).
    fn load_state(
        &mut self,
        state: &[(String, Tensor)],
        known: &[&'static str],
        required: &[&'static str],
    ) -> Result<()> {
        let map: HashMap<&str, &Tensor> = state.iter().map(|(k, t)| (k.as_str(), t)).collect();
        let get = |key: &str| -> Result<&Tensor> {
            map.get(key)
                .copied()
                .ok_or_else(|| error::data(format!("optimizer state: missing entry \"{key}\"")))
        };
        let steps = read_count(get("step")?, "step")?;
        // Validate everything first, so that a failed load changes nothing.
        let mut loaded: Vec<PState> = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let name = &p.name;
            let key = format!("step.{name}");
            let n = read_count(get(&key)?, &key)?;
            let mut bufs = vec![];
            if n > 0 {
                for &b in known {
                    let key = format!("{b}.{name}");
                    let t = match map.get(key.as_str()) {
                        Some(t) => *t,
                        None if required.contains(&b) => get(&key)?,
                        None => continue,
                    };
                    let (want, got) = (p.tensor.size(), t.size());
                    if want != got {
                        return Err(error::data(format!(
                            "optimizer state: entry \"{key}\" has shape {got:?}, expected {want:?}"
                        )));
                    }
                    if !t.is_floating_point() {
                        return Err(error::data(format!(
                            "optimizer state: entry \"{key}\" has kind {:?}, expected a floating-point tensor",
                            t.kind()
                        )));
                    }
                    let copy = tch::no_grad(|| {
                        let mut c = p.tensor.detach().zeros_like();
                        c.copy_(t);
                        c
                    });
                    bufs.push((b, copy));
                }
            }
            loaded.push(PState { n, bufs });
        }
        self.steps = steps;
        self.states = loaded;
        Ok(())
    }
}

fn int_scalar(v: i64) -> Tensor {
    Tensor::scalar_tensor(v, (Kind::Int64, Device::Cpu))
}

/// A step count from a checkpoint: a non-negative integral scalar.
fn read_count(t: &Tensor, key: &str) -> Result<i64> {
    if !t.size().is_empty() {
        return Err(error::data(format!(
            "optimizer state: entry \"{key}\" has shape {:?}, expected a scalar (shape [])",
            t.size()
        )));
    }
    let v = t
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .double_value(&[]);
    if !(v >= 0.0 && v.fract() == 0.0 && v < 9.0e15) {
        return Err(error::data(format!(
            "optimizer state: entry \"{key}\" is {v}, expected a non-negative integer step count"
        )));
    }
    Ok(v as i64)
}

/// Stochastic gradient descent with the semantics of `torch.optim.SGD`:
/// `d = g + wd*p`; with momentum, `buf = d` on a parameter's first update and
/// `buf = momentum*buf + (1-dampening)*d` after; `d = d + momentum*buf`
/// (Nesterov) or `d = buf`; `p -= lr*d`.
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    slots: Slots,
}

impl Sgd {
    /// Plain SGD (no momentum, dampening or weight decay).
    pub fn new(params: Vec<Param>, lr: f64) -> Sgd {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            slots: Slots::new(params),
        }
    }

    pub fn with_momentum(mut self, momentum: f64) -> Sgd {
        self.momentum = momentum;
        self
    }

    pub fn with_dampening(mut self, dampening: f64) -> Sgd {
        self.dampening = dampening;
        self
    }

    pub fn with_nesterov(mut self, nesterov: bool) -> Sgd {
        self.nesterov = nesterov;
        self
    }

    pub fn with_weight_decay(mut self, weight_decay: f64) -> Sgd {
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) {
        let (lr, momentum, dampening, nesterov, wd) = (
            self.lr,
            self.momentum,
            self.dampening,
            self.nesterov,
            self.weight_decay,
        );
        tch::no_grad(|| {
            for (p, st) in self.slots.iter_mut() {
                let Some(mut d) = grad_of(p, wd) else {
                    continue;
                };
                st.n += 1;
                if momentum != 0.0 {
                    let buf = match st.buf("momentum") {
                        Some(mut buf) => {
                            let _ = buf.g_mul_scalar_(momentum);
                            if dampening == 0.0 {
                                let _ = buf.g_add_(&d);
                            } else {
                                let _ = buf.g_add_(&(&d * (1.0 - dampening)));
                            }
                            buf
                        }
                        // PyTorch: the buffer starts as a copy of the (decayed) gradient.
                        None => st.buf_or("momentum", p, |_| d.detach().copy()),
                    };
                    d = if nesterov { &d + &buf * momentum } else { buf };
                }
                let _ = p.g_add_(&(&d * -lr));
            }
        });
        self.slots.steps += 1;
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }

    fn slots(&self) -> &Slots {
        &self.slots
    }

    fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let required: &[&str] = if self.momentum != 0.0 {
            &["momentum"]
        } else {
            &[]
        };
        self.slots.load_state(state, &["momentum"], required)
    }
}

/// RMSprop.
///
/// With `tf_style == false`, the semantics of `torch.optim.RMSprop`:
/// `g += wd*p; v = alpha*v + (1-alpha)*g²` (v starts at zero); centered:
/// `m = alpha*m + (1-alpha)*g`, `avg = sqrt(v - m²) + eps`, else
/// `avg = sqrt(v) + eps`; with momentum `buf = momentum*buf + g/avg`,
/// `p -= lr*buf`, else `p -= lr*g/avg`.
///
/// With `tf_style == true`, TensorFlow's RMSPropOptimizer (timm's RMSpropTF):
/// v starts at ONE and eps goes inside the square root:
/// `avg = sqrt(v + eps)` (centered: `sqrt(v - m² + eps)`);
/// `buf = momentum*buf + lr*g/avg; p -= buf` (the learning rate is inside the
/// momentum buffer). Inception's recipe: alpha (decay) 0.9, momentum 0.9, eps 1.0.
pub struct RmsProp {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub momentum: f64,
    pub centered: bool,
    pub weight_decay: f64,
    pub tf_style: bool,
    slots: Slots,
}

impl RmsProp {
    /// PyTorch's defaults: alpha 0.99, eps 1e-8, no momentum, not centered.
    pub fn new(params: Vec<Param>, lr: f64) -> RmsProp {
        RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            centered: false,
            weight_decay: 0.0,
            tf_style: false,
            slots: Slots::new(params),
        }
    }

    pub fn with_alpha(mut self, alpha: f64) -> RmsProp {
        self.alpha = alpha;
        self
    }

    pub fn with_eps(mut self, eps: f64) -> RmsProp {
        self.eps = eps;
        self
    }

    pub fn with_momentum(mut self, momentum: f64) -> RmsProp {
        self.momentum = momentum;
        self
    }

    pub fn with_centered(mut self, centered: bool) -> RmsProp {
        self.centered = centered;
        self
    }

    pub fn with_weight_decay(mut self, weight_decay: f64) -> RmsProp {
        self.weight_decay = weight_decay;
        self
    }

    pub fn with_tf_style(mut self, tf_style: bool) -> RmsProp {
        self.tf_style = tf_style;
        self
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self) {
        let (lr, alpha, eps, momentum, centered, wd, tf) = (
            self.lr,
            self.alpha,
            self.eps,
            self.momentum,
            self.centered,
            self.weight_decay,
            self.tf_style,
        );
        tch::no_grad(|| {
            for (p, st) in self.slots.iter_mut() {
                let Some(g) = grad_of(p, wd) else { continue };
                st.n += 1;
                let mut v = st.buf_or("square_avg", p, |p| {
                    if tf {
                        p.ones_like()
                    } else {
                        p.zeros_like()
                    }
                });
                let _ = v.g_mul_scalar_(alpha);
                let _ = v.addcmul_(&(&g * (1.0 - alpha)), &g);
                let var = if centered {
                    let mut m = st.buf_or("grad_avg", p, Tensor::zeros_like);
                    let _ = m.g_mul_scalar_(alpha);
                    let _ = m.g_add_(&(&g * (1.0 - alpha)));
                    v.addcmul(&m, &m.neg())
                } else {
                    v
                };
                let avg = if tf {
                    (var + eps).sqrt()
                } else {
                    let mut avg = var.sqrt();
                    let _ = avg.g_add_scalar_(eps);
                    avg
                };
                if momentum > 0.0 {
                    let mut buf = st.buf_or("momentum", p, Tensor::zeros_like);
                    let _ = buf.g_mul_scalar_(momentum);
                    if tf {
                        // The learning rate lives inside TF's momentum buffer.
                        let _ = buf.addcdiv_(&(&g * lr), &avg);
                        let _ = p.g_sub_(&buf);
                    } else {
                        let _ = buf.addcdiv_(&g, &avg);
                        let _ = p.g_add_(&(&buf * -lr));
                    }
                } else {
                    // TF with momentum 0 keeps a buffer equal to lr*g/avg: the same update.
                    let _ = p.addcdiv_(&(&g * -lr), &avg);
                }
            }
        });
        self.slots.steps += 1;
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }

    fn slots(&self) -> &Slots {
        &self.slots
    }

    fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let mut required = vec!["square_avg"];
        if self.momentum > 0.0 {
            required.push("momentum");
        }
        if self.centered {
            required.push("grad_avg");
        }
        self.slots
            .load_state(state, &["square_avg", "momentum", "grad_avg"], &required)
    }
}

/// Adam with the semantics of `torch.optim.Adam` (amsgrad off): L2 weight
/// decay added to the gradient, `m = beta1*m + (1-beta1)*g`,
/// `v = beta2*v + (1-beta2)*g²`,
/// `p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)`, where t counts
/// this parameter's updates. The betas are read at each step (so beta1 can be
/// changed mid-run, as the weight-normalisation paper does).
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    slots: Slots,
}

impl Adam {
    /// PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(params: Vec<Param>, lr: f64) -> Adam {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            slots: Slots::new(params),
        }
    }

    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Adam {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    pub fn with_eps(mut self, eps: f64) -> Adam {
        self.eps = eps;
        self
    }

    pub fn with_weight_decay(mut self, weight_decay: f64) -> Adam {
        self.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for Adam {
    fn step(&mut self) {
        let (lr, beta1, beta2, eps, wd) =
            (self.lr, self.beta1, self.beta2, self.eps, self.weight_decay);
        tch::no_grad(|| {
            for (p, st) in self.slots.iter_mut() {
                let Some(g) = grad_of(p, wd) else { continue };
                st.n += 1;
                let mut m = st.buf_or("exp_avg", p, Tensor::zeros_like);
                let mut v = st.buf_or("exp_avg_sq", p, Tensor::zeros_like);
                let _ = m.lerp_(&g, 1.0 - beta1);
                let _ = v.g_mul_scalar_(beta2);
                let _ = v.addcmul_(&(&g * (1.0 - beta2)), &g);
                let t = st.n as f64;
                let bias_correction1 = 1.0 - beta1.powf(t);
                let bias_correction2 = 1.0 - beta2.powf(t);
                let step_size = lr / bias_correction1;
                let mut denom = v.sqrt() / bias_correction2.sqrt();
                let _ = denom.g_add_scalar_(eps);
                let _ = p.addcdiv_(&(&m * -step_size), &denom);
            }
        });
        self.slots.steps += 1;
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr
    }

    fn slots(&self) -> &Slots {
        &self.slots
    }

    fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        self.slots.load_state(
            state,
            &["exp_avg", "exp_avg_sq"],
            &["exp_avg", "exp_avg_sq"],
        )
    }
}
