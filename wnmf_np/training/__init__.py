"""The mini-batch AdamW driver shared by every WNMF-family model, the data sources it
draws batches from (in memory or out of core) and the checkpoint file format."""
