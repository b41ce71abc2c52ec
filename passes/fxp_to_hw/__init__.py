"""The fxp -> hw/comb/seq/sv conversion: plan, then datapath construction."""
