//! Who holds which token: one small record per token in its holder's index,
//! ordered so that a token check reads only the tokens of the kind and scope
//! it asks for, the latest expiry first.
//!
//! A shop re-issues tokens for decades (a certification every few years, a
//! safety clearance every few months), so a person comes to have held
//! hundreds of tokens. A check at a step is answered by the first holding
//! in its range that is not revoked: O(log n), whatever the person held
//! before. Every change of a token's holder or expiry goes through
//! [`State::change_token`], which keeps its holding ([`Holding`], in the
//! state's data model) in step.

use std::cmp::Reverse;

use smart_ledger::{SmartId, Timestamp};

use crate::state::{Holding, State, Token, TokenKind};

/// The first holding that could be `holder`'s of `kind` and `scope`
/// (`kind`: `None` for the first of any kind).
fn first(holder: SmartId, kind: Option<TokenKind>, scope: &str) -> Holding {
    Holding {
        holder,
        // `Access` is the first kind in `TokenKind`'s order.
        kind: kind.unwrap_or(TokenKind::Access),
        scope: scope.to_string(),
        expires: Reverse(Timestamp(u64::MAX)),
        token: String::new(),
    }
}

impl State {
    /// Every token `holder` holds or has held (revoked and expired ones
    /// too), by kind and scope, the latest expiry first.
    pub fn tokens_of<'s>(&'s self, holder: &SmartId) -> impl Iterator<Item = (&'s str, &'s Token)> {
        let holder = *holder;
        self.holdings
            .range(first(holder, None, "")..)
            .take_while(move |h| h.holder == holder)
            .filter_map(|h| self.tokens.get(&h.token).map(|t| (h.token.as_str(), t)))
    }

    /// `holder`'s tokens of `kind` covering `scope` (revoked and expired
    /// ones too), the latest expiry first.
    pub fn tokens_for<'s>(
        &'s self,
        holder: &SmartId,
        kind: TokenKind,
        scope: &str,
    ) -> impl Iterator<Item = (&'s str, &'s Token)> {
        let holder = *holder;
        self.holdings
            .range(first(holder, Some(kind), scope)..)
            .take_while(move |h| h.holder == holder && h.kind == kind && h.scope == scope)
            .filter_map(|h| self.tokens.get(&h.token).map(|t| (h.token.as_str(), t)))
    }

    /// Adds token `id` and its holding.
    pub fn add_token(&mut self, id: String, token: Token) {
        if let Some(old) = self.tokens.get(&id) {
            let old = Holding::of(&id, old);
            self.holdings.remove(&old);
        }
        self.holdings.insert(Holding::of(&id, &token));
        self.tokens.insert(id, token);
    }

    /// Changes token `id` with `change` (which may give it a new holder or
    /// expiry), keeping its holding in step; whether the token exists.
    pub fn change_token(&mut self, id: &str, change: impl FnOnce(&mut Token)) -> bool {
        let Some(token) = self.tokens.get(id) else {
            return false;
        };
        let before = Holding::of(id, token);
        let mut changed = token.clone();
        change(&mut changed);
        if changed == *token {
            return true;
        }
        let after = Holding::of(id, &changed);
        if after != before {
            self.holdings.remove(&before);
            self.holdings.insert(after);
        }
        self.tokens.insert(id.to_string(), changed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(holder: SmartId, kind: TokenKind, scope: &str, expires: u64) -> Token {
        Token {
            holder,
            kind,
            scope: scope.into(),
            issued: Timestamp(0),
            expires: Timestamp(expires),
            revoked: None,
        }
    }

    #[test]
    fn a_holders_tokens_of_one_kind_and_scope_come_latest_expiry_first() {
        let a = SmartId([1; 32]);
        let b = SmartId([2; 32]);
        let mut s = State::default();
        s.add_token("t1".into(), token(a, TokenKind::Safety, "furnace-3", 10));
        s.add_token("t2".into(), token(a, TokenKind::Safety, "furnace-3", 30));
        s.add_token("t3".into(), token(a, TokenKind::Safety, "furnace-30", 50));
        s.add_token("t4".into(), token(a, TokenKind::Access, "furnace-3", 40));
        s.add_token("t5".into(), token(b, TokenKind::Safety, "furnace-3", 60));
        let ids = |it: Vec<(&str, &Token)>| {
            it.into_iter()
                .map(|(i, _)| i.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(s.tokens_for(&a, TokenKind::Safety, "furnace-3").collect()),
            ["t2", "t1"]
        );
        assert_eq!(ids(s.tokens_of(&a).collect()), ["t4", "t2", "t1", "t3"]);
        assert_eq!(ids(s.tokens_of(&b).collect()), ["t5"]);
        assert!(
            s.tokens_for(&b, TokenKind::Access, "furnace-3")
                .next()
                .is_none()
        );
    }

    #[test]
    fn a_changed_holder_or_expiry_moves_the_holding() {
        let a = SmartId([1; 32]);
        let b = SmartId([2; 32]);
        let mut s = State::default();
        s.add_token("t1".into(), token(a, TokenKind::Certified, "NDT-PT-L2", 10));
        s.add_token("t2".into(), token(a, TokenKind::Certified, "NDT-PT-L2", 20));
        assert!(s.change_token("t1", |t| t.expires = Timestamp(99)));
        let first = s.tokens_for(&a, TokenKind::Certified, "NDT-PT-L2").next();
        assert_eq!(first.map(|(i, _)| i), Some("t1"));
        assert!(s.change_token("t2", |t| t.holder = b));
        assert_eq!(s.tokens_of(&a).count(), 1);
        assert_eq!(s.tokens_of(&b).map(|(i, _)| i).collect::<Vec<_>>(), ["t2"]);
        assert_eq!(s.holdings.len(), 2);
        assert!(!s.change_token("t9", |t| t.expires = Timestamp(1)));
    }
}
