"""Text handling shared by matching, triage and dedup: normalisation, segmentation, language id.

Pure functions over strings; nothing here touches the store, the network or the model.
"""
