"""The ingest worker: PD discovery, TiKV EventFeed streams, matcher, frontier and Kafka producer.

Pure stages (matcher, frontier, partitioner) import only the stdlib and generated messages;
the gRPC and Kafka I/O lives in thin shells around them.
"""
