"""Triage intelligence: category classifier, fraud/spam/abuse/misinformation detectors, `analyze`.

Pure domain code: functions over texts and labels. Never imports the store, the API or the web layer,
and never downloads anything: models are trained from files or in-memory pairs, or loaded from the
shipped artefact built by `python -m qinglang.triage.build_default`.
"""
