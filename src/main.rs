fn main() {
    let t = tch::Tensor::from_slice(&[1f32, 2., 3.]);
    println!("{} cuda={}", t.sum(tch::Kind::Float).double_value(&[]), tch::Cuda::is_available());
}
