"""Learning from DFT: an ensemble that corrects the band-gap committee with the DFT labels of the store."""
