"""The sub-interpreter engine, on the caller's side: the scheduler that feeds the shared task
queue and collects results, the shared slots of the workers' state, the task timer, the
futures, the thread that hosts each worker interpreter, and how interpreters are made."""
