//! (to be written)

use crate::Def;

/// Every case of this behaviour, in the order `netcase list` shows them.
pub static ALL: &[&Def] = &[];
