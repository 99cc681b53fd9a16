"""What runs on your machine: the ``streamloop`` command and its subcommands, cluster admin, datasets and
replay, the report, the bench and the documentation generators. Never shipped to a worker.
"""
