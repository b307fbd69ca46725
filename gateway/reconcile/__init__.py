"""The reconciliation run (issue 13, docs/adr/0022): every owner/mirror pair's full listings
compared, findings stored with checkpoints, heals through the outbox. The pure diff is
gateway/domain/reconcile.py; storage is gateway/store/reconciliations.py."""
