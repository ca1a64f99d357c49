"""Wire-compatible kvproto subsets and tiundo's own Kafka record schema.

cdcpb, pdpb, metapb, errorpb, kvrpcpb and raft_cmdpb mirror pingcap/kvproto on the wire;
tiundo.proto is the record schema of the `<job>.kv` topic. The ``*_pb2`` modules are generated
by ``make proto`` (scripts/gen_proto.py) and committed.
"""
