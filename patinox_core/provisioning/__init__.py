"""Getting and loading models: progress events, the progress bar, and ``ensure_model``.

``events.py`` (typed progress events, pure), ``bar.py`` (the one progress bar: tqdm in terminals and
notebooks, plain lines elsewhere), ``operations.py`` (pull / load / unload / ensure over a provider).
Nothing is imported here, so the wire layer can import ``events`` without pulling in the provider.
"""
