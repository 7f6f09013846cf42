//! Group-relative advantages.

use crate::config::{AdvantageScaling, GroupFilter};

/// Advantages of one group's rewards: `r − mean`, divided by `std + eps` under
/// [`AdvantageScaling::Std`]. The standard deviation is the population one (divide by G),
/// as in TRL. A group whose rewards are all equal has all-zero advantages: it carries no
/// learning signal, whatever the scaling.
pub fn group_advantages(rewards: &[f64], scaling: AdvantageScaling, eps: f64) -> Vec<f64> {
    if rewards.is_empty() {
        return Vec::new();
    }
    // Exactly equal rewards: no signal. (Rounding in the mean would otherwise leave
    // ~1e-17 residues that std scaling blows up.)
    if rewards.iter().all(|&r| r == rewards[0]) {
        return vec![0.0; rewards.len()];
    }
    let n = rewards.len() as f64;
    let mean = rewards.iter().sum::<f64>() / n;
    let centred: Vec<f64> = rewards.iter().map(|r| r - mean).collect();
    match scaling {
        AdvantageScaling::None => centred,
        AdvantageScaling::Std => {
            let std = (centred.iter().map(|c| c * c).sum::<f64>() / n).sqrt();
            centred.iter().map(|c| c / (std + eps)).collect()
        }
    }
}

/// Whether a drawn group enters the update under `filter`, given whether its rewards are all
/// equal (`flat`) and its completions' accuracies. Accuracies are compared exactly: IoU and
/// ROUGE are continuous, so only groups that chose the same answer (or all missed) agree.
pub fn group_kept(filter: GroupFilter, flat: bool, accuracies: &[f64]) -> bool {
    match filter {
        GroupFilter::None => true,
        GroupFilter::RewardStd => !flat,
        GroupFilter::Accuracy => accuracies.iter().any(|&a| a != accuracies[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_scaling_gives_unit_spread_and_zero_mean() {
        let a = group_advantages(&[1.0, 0.0, 0.0, 1.0], AdvantageScaling::Std, 1e-8);
        for (x, want) in a.iter().zip([1.0, -1.0, -1.0, 1.0]) {
            assert!((x - want).abs() < 1e-6, "{a:?}");
        }
        let b = group_advantages(&[0.2, 0.5, 1.1], AdvantageScaling::None, 1e-8);
        assert!((b.iter().sum::<f64>()).abs() < 1e-12);
        assert!((b[2] - (1.1 - 0.6)).abs() < 1e-12);
    }

    #[test]
    fn equal_rewards_carry_no_signal() {
        for s in [AdvantageScaling::Std, AdvantageScaling::None] {
            assert!(group_advantages(&[0.7; 8], s, 1e-4)
                .iter()
                .all(|&x| x == 0.0));
        }
    }

    #[test]
    fn filters_keep_only_groups_with_the_signal_they_look_for() {
        assert!(group_kept(GroupFilter::None, true, &[0.0; 8]));
        assert!(!group_kept(GroupFilter::RewardStd, true, &[0.0, 1.0]));
        assert!(group_kept(GroupFilter::RewardStd, false, &[0.0; 4]));
        assert!(!group_kept(GroupFilter::Accuracy, false, &[0.0; 8]));
        assert!(!group_kept(GroupFilter::Accuracy, false, &[1.0; 4]));
        assert!(group_kept(
            GroupFilter::Accuracy,
            true,
            &[0.0, 0.0, 0.31, 0.0]
        ));
        assert!(!group_kept(GroupFilter::Accuracy, false, &[]));
    }
}
