"""What evlog itself prints on the program's terminal (the run banner init() shows), as opposed to
capturing what the program prints (eventlog/capture/console.py)."""
