"""The commands risk owns: ``risk`` (one risk agent, registered under ``paystream streams``)."""
