"""Studies: a woman's films grouped by side and view (`grouping`), and the one rule that
combines per-film scores into per-breast and bilateral readings (`combine`).
"""
