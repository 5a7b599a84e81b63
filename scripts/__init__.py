"""Scripts run from the checkout, not shipped: the documentation's screenshots and the
Kubernetes manifests' checks against the code.

Run each as ``python -m scripts.<name>`` from the repository root.
"""
