//! riverwatch-analytics: Standards (GB 3838, HJ 633, warning levels), live evaluation, windows, compliance and attribution.
