"""Product recommendations: implicit ALS, a popularity baseline and graph co-occurrence.

Modules: :mod:`.data` (loading and checking interactions, the temporal split),
:mod:`.online_retail` (interactions from the shipped Online Retail file), :mod:`.metrics`
(pure ranking metrics), :mod:`.models` (the recommender interface, popularity and in-memory
co-occurrence), :mod:`.als` (Spark MLlib ALS and its numpy scorer), :mod:`.graph` (the same
co-occurrence read live from the Gremlin graph), :mod:`.evaluate`, :mod:`.tracking` (MLflow),
:mod:`.serving` (batch scoring into Redis) and :mod:`.pipeline` (the training command's flow).
"""
