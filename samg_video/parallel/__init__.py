"""One clip on several ranks, and guidance that skips work: CFG-parallel pairs and cached guidance
(``branches``: hooks on the denoiser), groups of ranks rendering clips together (``groups``), and
diffusers' context parallelism (``context``). ``options`` checks the module's options before weights load."""
