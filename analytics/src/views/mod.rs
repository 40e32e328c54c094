//! What the command line, the console and the river-chief reports show, as typed,
//! serializable rows: a quick check of values against the standards ([`evaluate`]) and the
//! stored evaluations by view and filter ([`evaluations`]), every station over a day, week,
//! month, quarter or year ([`periods`]). Nothing here prints or picks a language.

pub mod evaluate;
pub mod evaluations;
pub mod periods;
