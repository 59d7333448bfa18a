//! `paperlab train-gan`: the adversarial game of the paper's Algorithm 1 for
//! any --model. Each iteration makes k D updates, each on its own real batch
//! and fresh z, then one G update on fresh z; D's dropout is on in both, as in
//! the authors' cost. (The authors' code, with k = 1, took the D and G steps
//! from one shared forward pass; here they alternate, as the paper writes.)
//!
//! An epoch is one pass of D over the training images. The learning rate
//! decays per iteration (position.step counts iterations), momentum per
//! epoch. The SGD update is PyTorch's (buf = m buf + g, p -= lr buf); the
//! authors' pylearn2 one (v = m v - lr g, p += v) is the same at a constant
//! lr, and differs here only by the 1/1.000004 decay of one update. Losses and D's outputs are summed on the device and read only every
//! REPORT_EVERY iterations and at epoch ends.

use super::args::{logspace, GLoss, TrainGanArgs};
use super::nets::{self, noise};
use super::parzen::{estimate, flat};
use super::samples::save_grid;
use crate::data::batches::{batch, epoch_order};
use crate::data::{self, Dataset};
use crate::error::{run as run_error, usage, Result};
use crate::optim::{params_of, Optimizer, Sgd};
use crate::rng::Rng;
use crate::runner::checkpoint::Checkpoint;
use crate::runner::session::{self, Session};
use serde_json::json;
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// metrics.csv columns: d_x and d_g_z are the mean D(x) and D(G(z)) of D's
/// training passes (dropout on); parzen_ll is NaN in epochs without an estimate.
pub const HEADER: [&str; 10] = [
    "epoch",
    "d_loss",
    "g_loss",
    "d_x",
    "d_g_z",
    "lr",
    "momentum",
    "seconds",
    "images_per_sec",
    "parzen_ll",
];

/// Iterations between progress updates (each reads the sums: a host sync).
const REPORT_EVERY: i64 = 20;

/// The sample grids are GRID x GRID images of G at a fixed z.
const GRID: i64 = 10;

/// Random streams apart from the per-step ones (Rng stream numbers).
const GRID_STREAM: u64 = 1 << 40;
const PARZEN_STREAM: u64 = 1 << 41;

/// Running sums over the current epoch, on the device.
struct Sums {
    d_loss: Tensor,
    g_loss: Tensor,
    d_x: Tensor,
    d_g_z: Tensor,
}

impl Sums {
    fn zeros(device: Device) -> Sums {
        let z = || Tensor::zeros([], (Kind::Double, device));
        Sums {
            d_loss: z(),
            g_loss: z(),
            d_x: z(),
            d_g_z: z(),
        }
    }

    fn named(&self) -> Vec<(String, Tensor)> {
        let t = |n: &str, v: &Tensor| (n.to_string(), v.copy());
        vec![
            t("d_loss", &self.d_loss),
            t("g_loss", &self.g_loss),
            t("d_x", &self.d_x),
            t("d_g_z", &self.d_g_z),
        ]
    }

    fn restore(named: &[(String, Tensor)], device: Device) -> Sums {
        let mut s = Sums::zeros(device);
        for (k, v) in named {
            let v = v.to_device(device).to_kind(Kind::Double);
            match k.as_str() {
                "d_loss" => s.d_loss = v,
                "g_loss" => s.g_loss = v,
                "d_x" => s.d_x = v,
                "d_g_z" => s.d_g_z = v,
                _ => {}
            }
        }
        s
    }

    /// Means [d_loss, g_loss, d_x, d_g_z] over `d_steps` D and `g_steps` G updates
    /// (one host read).
    fn means(&self, d_steps: i64, g_steps: i64) -> [f64; 4] {
        let all = Tensor::stack(&[&self.d_loss, &self.g_loss, &self.d_x, &self.d_g_z], 0);
        let v = Vec::<f64>::try_from(all.to_device(Device::Cpu)).expect("double sums");
        let (d, g) = (d_steps.max(1) as f64, g_steps.max(1) as f64);
        [v[0] / d, v[1] / g, v[2] / d, v[3] / d]
    }
}

/// Both networks, their variables and optimizers.
struct Trainer<'a> {
    args: &'a TrainGanArgs,
    g: Box<dyn ModuleT>,
    d: Box<dyn ModuleT>,
    g_vs: VarStore,
    d_vs: VarStore,
    g_opt: Sgd,
    d_opt: Sgd,
    sums: Sums,
}

impl Trainer<'_> {
    /// One D update on real images `x` and as many samples of G.
    fn d_step(&mut self, x: &Tensor) {
        let z = noise(
            self.args.noise,
            x.size()[0],
            self.args.noise_dim,
            x.device(),
        );
        let fake = tch::no_grad(|| self.g.forward_t(&z, true));
        let real = self.d.forward_t(x, true);
        let fake = self.d.forward_t(&fake, true);
        // -(log D(x) + log(1 - D(G(z)))) / 2, as the authors' d_obj.
        let loss =
            ((-&real).softplus().mean(Kind::Float) + fake.softplus().mean(Kind::Float)) * 0.5;
        self.d_opt.zero_grad();
        loss.backward();
        self.d_opt.step();
        tch::no_grad(|| {
            self.sums.d_loss += loss.detach().to_kind(Kind::Double);
            self.sums.d_x += real.sigmoid().mean(Kind::Double);
            self.sums.d_g_z += fake.sigmoid().mean(Kind::Double);
        });
    }

    /// One G update on a batch of fresh z; D is frozen meanwhile, so no
    /// gradient is computed for its weights.
    fn g_step(&mut self, device: Device) {
        self.d_vs.freeze();
        let z = noise(
            self.args.noise,
            self.args.batch_size,
            self.args.noise_dim,
            device,
        );
        let logit = self.d.forward_t(&self.g.forward_t(&z, true), true);
        let loss = match self.args.g_loss {
            GLoss::NonSaturating => (-&logit).softplus().mean(Kind::Float),
            GLoss::Minimax => -logit.softplus().mean(Kind::Float),
        };
        self.g_opt.zero_grad();
        loss.backward();
        self.g_opt.step();
        self.d_vs.unfreeze();
        tch::no_grad(|| self.sums.g_loss += loss.detach().to_kind(Kind::Double));
    }

    /// Fails when a loss has become NaN or infinite.
    fn check_finite(&self, s: &Session) -> Result<()> {
        let total = (&self.sums.d_loss + &self.sums.g_loss).double_value(&[]);
        if total.is_finite() {
            return Ok(());
        }
        Err(s.diverged("D or G loss", &format!("by step {}", s.position.step)))
    }

    /// Write last (and best) checkpoints holding G, D, both optimizers and the sums.
    fn save(&self, s: &mut Session, best: bool) -> Result<()> {
        let ckpt = Checkpoint::new()
            .vars("g.", &self.g_vs)
            .vars("d.", &self.d_vs)
            .tensors("g_optim.", self.g_opt.state())
            .tensors("d_optim.", self.d_opt.state())
            .tensors("sums.", self.sums.named());
        s.save(ckpt, best)
    }
}

/// Validation images for the --parzen-every estimate: sigma is chosen on the
/// first half, the log-likelihood reported on the second.
struct Monitor {
    select: Tensor,
    eval: Tensor,
}

impl Monitor {
    fn new(args: &TrainGanArgs, valid: &Dataset, device: Device) -> Monitor {
        let n = args.parzen_valid.min(valid.len() / 2);
        let (select, eval) = valid.limit(Some(2 * n)).split_last(n);
        Monitor {
            select: flat(&select, device),
            eval: flat(&eval, device),
        }
    }

    fn estimate(&self, t: &Trainer, seed: u64, epoch: i64, device: Device) -> f64 {
        tch::manual_seed((Rng::new(seed, PARZEN_STREAM + epoch as u64).next_u64() >> 1) as i64);
        let centres = nets::sample(t.g.as_ref(), t.args, t.args.parzen_samples, device);
        estimate(
            &centres.flatten(1, -1),
            &self.select,
            &self.eval,
            &logspace(-1.0, 0.0, 10),
        )
    }
}

pub fn run(args: TrainGanArgs) -> Result<()> {
    let args = session::resolve("train-gan", args)?.checked()?;
    let dataset = args.dataset();
    let splits = data::load(&dataset, &args.common.data_dir)?;
    let (train, valid) = splits.train.split_last(args.valid_size);
    let train = train.limit(args.train_limit);
    if train.is_empty() {
        return Err(usage(format!(
            "--valid-size {} leaves no training images of {dataset}; lower it",
            args.valid_size
        )));
    }
    let mut s = Session::open("train-gan", &args, &HEADER)?;
    let shape = train.image_shape();
    let device = s.device;
    let (g_vs, d_vs) = (VarStore::new(device), VarStore::new(device));
    let g = nets::generator(&g_vs.root(), &args, shape, Some(&nets::marginals(&train)));
    let d = nets::discriminator(&d_vs.root(), &args, shape);
    let g_opt = Sgd::new(params_of(&g_vs), args.lr).with_momentum(args.momentum);
    let d_opt = Sgd::new(params_of(&d_vs), args.lr).with_momentum(args.momentum);
    let mut t = Trainer {
        args: &args,
        g,
        d,
        g_vs,
        d_vs,
        g_opt,
        d_opt,
        sums: Sums::zeros(device),
    };
    if let Some(ckpt) = s.resumed() {
        ckpt.load_vars("g.", &t.g_vs)?;
        ckpt.load_vars("d.", &t.d_vs)?;
        t.g_opt.load_state(&ckpt.section("g_optim."))?;
        t.d_opt.load_state(&ckpt.section("d_optim."))?;
        t.sums = Sums::restore(&ckpt.section("sums."), device);
    }
    tch::manual_seed((Rng::new(s.seed, GRID_STREAM).next_u64() >> 1) as i64);
    let grid_z = noise(args.noise, GRID * GRID, args.noise_dim, device);
    let monitor = (args.parzen_every > 0).then(|| Monitor::new(&args, &valid, device));
    let samples_dir = s.dir.file("samples");
    std::fs::create_dir_all(&samples_dir)
        .map_err(|e| run_error(format!("cannot create {}: {e}", samples_dir.display())))?;

    let (n, bs, k) = (train.len(), args.batch_size, args.d_steps);
    let batches = (n + bs - 1) / bs;
    let iterations = (batches + k - 1) / k;
    let (mut images, mut seconds) = (0i64, 0f64);
    let mut last = None;
    for epoch in s.position.epoch + 1..=args.epochs {
        let momentum = args.momentum_at(epoch);
        (t.g_opt.momentum, t.d_opt.momentum) = (momentum, momentum);
        let order = epoch_order(n, s.seed, epoch as u64);
        s.progress
            .start(&format!("epoch {epoch}/{}", args.epochs), iterations as u64);
        let started = Instant::now();
        let first = s.position.batch;
        while s.position.batch < batches {
            if s.should_stop() {
                t.check_finite(&s)?;
                t.save(&mut s, false)?;
                return s.stopped();
            }
            s.seed_step();
            let lr = args.lr_at(s.position.step);
            (t.g_opt.lr, t.d_opt.lr) = (lr, lr);
            let end = (s.position.batch + k).min(batches);
            for b in s.position.batch..end {
                let idx = &order[(b * bs) as usize..((b + 1) * bs).min(n) as usize];
                t.d_step(&batch(&train, idx, device).images);
            }
            t.g_step(device);
            s.position.step += 1;
            s.position.batch = end;
            let done = (end + k - 1) / k;
            if done % REPORT_EVERY == 0 {
                t.check_finite(&s)?;
                let [dl, gl, dx, dgz] = t.sums.means(end, done);
                let rate = ((end - first) * bs) as f64 / started.elapsed().as_secs_f64();
                s.progress.update(
                    done as u64,
                    format!("{rate:.0} img/s  D loss {dl:.3}  G loss {gl:.3}  D(x) {dx:.2}  D(G(z)) {dgz:.2}"),
                );
            }
        }
        t.check_finite(&s)?;
        let epoch_seconds = started.elapsed().as_secs_f64();
        let epoch_images = n - (first * bs).min(n);
        (images, seconds) = (images + epoch_images, seconds + epoch_seconds);
        let [dl, gl, dx, dgz] = t.sums.means(batches, iterations);
        let parzen = match &monitor {
            Some(m) if epoch % args.parzen_every == 0 => m.estimate(&t, s.seed, epoch, device),
            _ => f64::NAN,
        };
        let lr = args.lr_at(s.position.step - 1);
        let ips = epoch_images as f64 / epoch_seconds;
        s.metrics.write(&[
            epoch as f64,
            dl,
            gl,
            dx,
            dgz,
            lr,
            momentum,
            epoch_seconds,
            ips,
            parzen,
        ])?;
        let grid = tch::no_grad(|| t.g.forward_t(&grid_z, false));
        save_grid(
            &samples_dir.join(format!("epoch_{epoch:03}.png")),
            &grid,
            GRID,
        )?;
        let parzen_note = if parzen.is_nan() {
            String::new()
        } else {
            format!("  Parzen LL {parzen:.1}")
        };
        s.progress.line(&format!(
            "epoch {epoch:>3}  D loss {dl:.3}  G loss {gl:.3}  D(x) {dx:.3}  D(G(z)) {dgz:.3}  lr {lr:.5}  momentum {momentum:.3}  {ips:.0} img/s{parzen_note}"
        ));
        // Best: the highest Parzen estimate when there are estimates, else the last.
        let best = match monitor {
            Some(_) => !parzen.is_nan() && -parzen < s.position.best,
            None => true,
        };
        if best && !parzen.is_nan() {
            s.position.best = -parzen;
        }
        s.position.epoch = epoch;
        s.position.batch = 0;
        t.sums = Sums::zeros(device);
        t.save(&mut s, best)?;
        last = Some([dl, gl, dx, dgz]);
    }
    let count = |vs: &VarStore| -> i64 {
        vs.trainable_variables()
            .iter()
            .map(|v| v.numel() as i64)
            .sum()
    };
    s.write_summary(&json!({
        "model": args.model,
        "dataset": dataset.to_string(),
        "epochs": args.epochs,
        "train_images": n,
        "valid_images": valid.len(),
        "last_epoch": last.map(|[dl, gl, dx, dgz]| json!({"d_loss": dl, "g_loss": gl, "d_x": dx, "d_g_z": dgz})),
        "best_parzen_ll": (args.parzen_every > 0).then(|| -s.position.best),
        "g_params": count(&t.g_vs),
        "d_params": count(&t.d_vs),
        "train_images_per_sec": if seconds > 0.0 { images as f64 / seconds } else { 0.0 },
    }))?;
    eprintln!(
        "results: {}; estimate the Parzen log-likelihood with `paperlab eval-parzen --run {}`",
        s.dir.path.display(),
        s.dir.path.display()
    );
    Ok(())
}
