//! Who may do what: the one authorization function, pinned by the table test below.
//!
//! Public buckets: anyone may read an object by key. Everything else needs credentials:
//! the API key and `project_admin` may do everything; `authenticated` users list, read,
//! replace and delete only objects they uploaded (they may create new keys anywhere);
//! `anon` may do nothing. Objects a caller may not see answer 404, not 403.

use crate::auth::Principal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    List,
    Write,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, and the caller may know the object exists (403).
    Deny,
    /// Refused as if the object did not exist (404).
    Hide,
}

/// The object a decision is about: `None` when the key does not exist (yet).
pub type Target<'a> = Option<Option<&'a str>>;

/// `principal` is `None` for a caller without credentials (only public reads get that far).
/// `owner` is the existing object's `uploaded_by`, or `None` when there is no object.
pub fn decide(
    principal: Option<&Principal>,
    bucket_public: bool,
    owner: Target<'_>,
    action: Action,
) -> Decision {
    if action == Action::Read && bucket_public {
        return Decision::Allow;
    }
    let Some(principal) = principal else {
        return Decision::Deny;
    };
    match principal {
        Principal::ApiKey | Principal::Admin { .. } => Decision::Allow,
        Principal::Anon => match action {
            Action::Read => Decision::Hide,
            _ => Decision::Deny,
        },
        Principal::User { sub } => {
            let own = owner.is_some_and(|o| o == Some(sub.as_str()));
            match (action, owner) {
                (Action::List, _) => Decision::Allow,
                (Action::Write, None) => Decision::Allow,
                (_, None) => Decision::Hide,
                (_, Some(_)) if own => Decision::Allow,
                (Action::Write, Some(_)) => Decision::Deny,
                (Action::Read | Action::Delete, Some(_)) => Decision::Hide,
            }
        }
    }
}

/// Whose objects a lister sees: `Ok(None)` for all, `Ok(Some(sub))` for their own.
pub fn list_scope(principal: &Principal) -> Result<Option<String>, Decision> {
    match decide(Some(principal), false, None, Action::List) {
        Decision::Allow => Ok(principal.owner().map(str::to_owned)),
        refused => Err(refused),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Decision::*;

    #[test]
    fn the_table() {
        let key = Principal::ApiKey;
        let admin = Principal::Admin { sub: "root".into() };
        let alice = Principal::User {
            sub: "alice".into(),
        };
        let anon = Principal::Anon;
        let alices = Some(Some("alice"));
        let bobs = Some(Some("bob"));
        let admins = Some(None);
        #[rustfmt::skip]
        let table: &[(Option<&Principal>, bool, Target, Action, Decision)] = &[
            // Public buckets: reads by key are open to everyone.
            (None,         true,  bobs,   Read,   Allow),
            (Some(&anon),  true,  bobs,   Read,   Allow),
            (Some(&alice), true,  admins, Read,   Allow),
            (None,         true,  None,   Write,  Deny),
            (None,         true,  bobs,   Delete, Deny),
            (Some(&anon),  true,  None,   Write,  Deny),
            (Some(&anon),  true,  None,   List,   Deny),
            (Some(&alice), true,  bobs,   Write,  Deny),
            (Some(&alice), true,  bobs,   Delete, Hide),
            // Private buckets.
            (None,         false, alices, Read,   Deny),
            (Some(&anon),  false, alices, Read,   Hide),
            (Some(&anon),  false, None,   Write,  Deny),
            (Some(&anon),  false, alices, Delete, Deny),
            (Some(&anon),  false, None,   List,   Deny),
            (Some(&alice), false, alices, Read,   Allow),
            (Some(&alice), false, bobs,   Read,   Hide),
            (Some(&alice), false, admins, Read,   Hide),
            (Some(&alice), false, None,   Read,   Hide),
            (Some(&alice), false, None,   Write,  Allow),
            (Some(&alice), false, alices, Write,  Allow),
            (Some(&alice), false, bobs,   Write,  Deny),
            (Some(&alice), false, admins, Write,  Deny),
            (Some(&alice), false, alices, Delete, Allow),
            (Some(&alice), false, bobs,   Delete, Hide),
            (Some(&alice), false, None,   Delete, Hide),
            (Some(&alice), false, None,   List,   Allow),
            (Some(&admin), false, bobs,   Read,   Allow),
            (Some(&admin), false, bobs,   Write,  Allow),
            (Some(&admin), false, bobs,   Delete, Allow),
            (Some(&key),   false, bobs,   Read,   Allow),
            (Some(&key),   false, None,   Write,  Allow),
            (Some(&key),   false, alices, Delete, Allow),
            (Some(&key),   false, None,   List,   Allow),
        ];
        for (i, (p, public, owner, action, want)) in table.iter().enumerate() {
            assert_eq!(decide(*p, *public, *owner, *action), *want, "row {i}");
        }
    }

    #[test]
    fn list_scopes() {
        assert_eq!(list_scope(&Principal::ApiKey), Ok(None));
        assert_eq!(
            list_scope(&Principal::User { sub: "a".into() }),
            Ok(Some("a".into()))
        );
        assert_eq!(list_scope(&Principal::Anon), Err(Decision::Deny));
    }
}
