"""One small module of routes per resource."""
