"""One typed step function per pipeline stage: pydantic inputs in, pydantic outputs (and files) out.

The command line and the Prefect tasks both call these; a task adds only its cache policy, retries and the
store write, a command only argument parsing and printing. Nothing here imports Prefect or the command line.
"""
