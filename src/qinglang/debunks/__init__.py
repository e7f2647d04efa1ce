"""The debunk registry: versions, the two-person review workflow, ClaimReview JSON-LD, feeds, import/export."""
