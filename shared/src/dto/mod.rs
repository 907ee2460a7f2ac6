//! Types the dashboard and the server exchange, by area. Plain data: serializable, no behaviour
//! that needs the server. Closed sets of values are enums (a user's source, a group's role, a
//! credential's kind, why a user is in a group), so both sides match on them exhaustively.

mod accounts;
mod activity;
mod diagnostics;
pub mod events;
mod mappings;
mod safety;
mod scim_setup;
mod sso;
mod support;
mod user_groups;
mod users;

pub use accounts::*;
pub use activity::*;
pub use diagnostics::*;
pub use events::*;
pub use mappings::*;
pub use safety::*;
pub use scim_setup::*;
pub use sso::*;
pub use support::*;
pub use user_groups::*;
pub use users::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_from_viewer_to_admin() {
        assert!(GroupRole::Admin > GroupRole::Member && GroupRole::Member > GroupRole::Viewer);
        assert_eq!([GroupRole::Viewer, GroupRole::Admin, GroupRole::Member].into_iter().max(), Some(GroupRole::Admin));
        for r in GroupRole::ALL {
            assert_eq!(GroupRole::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn closed_values_are_enums_that_round_trip() {
        for k in CredentialKind::ALL {
            assert_eq!(CredentialKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.as_str()));
        }
        assert_eq!(CredentialKind::parse("password"), None);
        for (name, kind) in
            [("admin", MembershipKind::Admin), ("rule", MembershipKind::Rule), ("default", MembershipKind::Default)]
        {
            assert_eq!(MembershipKind::parse(name), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(name));
        }
        for s in [UserSource::Scim, UserSource::Jit, UserSource::Manual] {
            assert_eq!(UserSource::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn filters_and_sorts_round_trip_their_names() {
        for f in UserFilter::ALL {
            assert_eq!(UserFilter::parse(f.as_str()), f);
        }
        assert_eq!(UserFilter::parse("bogus"), UserFilter::All);
        for s in UserSort::ALL {
            assert_eq!(UserSort::parse(s.as_str()), s);
        }
        assert_eq!(UserSort::parse(""), UserSort::Created);
    }

    #[test]
    fn health_states_from_traffic() {
        use HealthState::*;
        assert_eq!(HealthState::classify(None, 0, 0), NoTraffic);
        assert_eq!(HealthState::classify(Some(1), 0, 0), Idle);
        assert_eq!(HealthState::classify(Some(1), 100, 0), Healthy);
        assert_eq!(HealthState::classify(Some(1), 100, 19), SomeErrors);
        assert_eq!(HealthState::classify(Some(1), 100, 20), Failing);
        assert_eq!(HealthState::classify(Some(1), 1, 1), Failing);
        // The overview sorts worst first.
        assert!(Failing < SomeErrors && SomeErrors < Healthy && Healthy < Idle && Idle < NoTraffic);
        for s in [
            TenantSort::Name,
            TenantSort::Users,
            TenantSort::Unassigned,
            TenantSort::ErrorRate,
            TenantSort::LastRequest,
        ] {
            assert_eq!(TenantSort::parse(s.as_str()), s);
        }
        assert_eq!(TenantSort::parse("bogus"), TenantSort::Health);
    }
}
