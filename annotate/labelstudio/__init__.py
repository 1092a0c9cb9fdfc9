"""Everything that talks to Label Studio.

Modules
-------
server
    The embedded server: start, health, status, stop by process id; its credentials.
client
    ``LabelStudioGateway``: the few SDK calls labelloop makes, with retries and typed errors.
translate
    Pure functions: labeling config XML, task JSON, annotation JSON to records.
sync
    Push a batch (resumable, reconciled by item id) and pull labels incrementally.
webhook
    ``labelloop listen``: records that labels are waiting; never trains.
"""
