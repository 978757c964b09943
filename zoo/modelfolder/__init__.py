"""Model folders: the files a trained model lives in (``model.safetensors``, ``zoo.json``,
its card) and everything that reads or writes them: saving and loading (``checkpoint``),
naming one (``refs``: a path, a trial id, a Hub id), the Hugging Face Hub (``hub``), the model
card (``card``) and ONNX/TorchScript export (``export``).
"""
