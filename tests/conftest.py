"""Settings shared by every test run."""

from hypothesis import settings

# Property tests run on busy machines, beside a running stack: an example that takes long is
# no failure (what they prove is the property, not a timing).
settings.register_profile("paystream", deadline=None)
settings.load_profile("paystream")
