"""An installed engine package that imports something its environment lacks."""
import a_module_the_engine_needs  # noqa: F401
