"""Who may do what: pure `can_*` checks over an `Actor` (`org`), one module per feature, tested
without Telegram or a database. Storage's operations ask them; handlers may ask them early only
to save a person a step, with storage's own wording."""
