"""How results are shown, from tables alone (never from a store): the figures, the ranking of points
(`compare`), regression gates (`check`) and papers' tables (`paper_table`)."""
