//! The two-proportion z-test A/B splits and holdouts are judged by.
//!
//! For `x₁` successes in `n₁` trials against `x₂` in `n₂`: the pooled
//! proportion `p = (x₁+x₂)/(n₁+n₂)`, the standard error
//! `√(p(1−p)(1/n₁+1/n₂))`, `z = (x₁/n₁ − x₂/n₂)/se`, and the two-sided
//! p-value `erfc(|z|/√2)`. Written out here because it is four lines; the
//! complementary error function comes from `libm`.

use serde::Serialize;

/// The result of comparing two proportions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProportionTest {
    /// The z statistic (positive when the first proportion is larger).
    pub z: f64,
    /// The two-sided p-value.
    pub p_value: f64,
}

/// Compares `x1` of `n1` with `x2` of `n2`; `None` when either side has no
/// trials or nothing varies (both proportions 0 or both 1).
pub fn two_proportion(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<ProportionTest> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (x1f, n1f, x2f, n2f) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    let pooled = (x1f + x2f) / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se == 0.0 || !se.is_finite() {
        return None;
    }
    let z = (x1f / n1f - x2f / n2f) / se;
    Some(ProportionTest {
        z,
        p_value: libm::erfc(z.abs() / std::f64::consts::SQRT_2),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_against_a_worked_example() {
        // 60/500 vs 40/500: p = 0.1, se = √(0.09 × 0.004) = 0.018974,
        // z = 0.04 / 0.018974 = 2.1082, two-sided p = 0.03502.
        let test = two_proportion(60, 500, 40, 500).unwrap();
        assert!((test.z - 2.1082).abs() < 1e-4, "{test:?}");
        assert!((test.p_value - 0.03502).abs() < 1e-4, "{test:?}");
        let reverse = two_proportion(40, 500, 60, 500).unwrap();
        assert!((reverse.z + test.z).abs() < 1e-12);
        assert!((reverse.p_value - test.p_value).abs() < 1e-12);
    }

    #[test]
    fn nothing_to_compare_is_none() {
        assert_eq!(two_proportion(0, 0, 1, 10), None);
        assert_eq!(two_proportion(0, 10, 0, 10), None);
        assert_eq!(two_proportion(10, 10, 5, 5), None);
        let equal = two_proportion(5, 50, 5, 50).unwrap();
        assert_eq!(equal.z, 0.0);
        assert!((equal.p_value - 1.0).abs() < 1e-12);
    }
}
