"""The demo city: a fictional sub-district on the real streets of Shanghai Huangpu, built from
data/ (city)."""
