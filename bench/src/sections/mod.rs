//! One module per question the benchmarks answer.

pub mod contracts;
pub mod delivery;
pub mod end_to_end;
pub mod evaluation;
pub mod feedback;
pub mod isolation;
pub mod lifecycle;
pub mod load;
pub mod noisy_neighbour;
pub mod scaling;
