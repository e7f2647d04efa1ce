"""Images: safe loading with limits, PDQ and MD5 hashing, and in-memory hash banks (HMA-compatible CSV).

Never decodes an image without the limits in `load`, and never fetches anything over the network.
"""
