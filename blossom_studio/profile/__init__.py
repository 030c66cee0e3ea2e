"""Language profile of samples (zh/en/mixed/other/code/unknown per message and sample) and word statistics."""
