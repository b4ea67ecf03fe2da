"""One router per resource; each only translates HTTP to commands and queries and back."""
