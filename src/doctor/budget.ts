// The doctor's time budget: a deadline, shares of what is left for each step, and a stop flag
// (Ctrl-C) that every share sees. Steps check it between measurements, so the doctor stops
// cleanly with what it has measured; one measurement in flight finishes first.
export class Budget {
  private reason: string | undefined;

  private constructor(private readonly deadline: number, private readonly parent?: Budget) {}

  static ofMinutes(minutes: number): Budget { return new Budget(performance.now() + minutes * 60_000); }

  remainingMs(): number {
    const own = this.deadline - performance.now();
    return this.parent ? Math.min(own, this.parent.remainingMs()) : own;
  }

  /** Why it stopped, if it did: time out or a stop request (also the parent's). */
  stoppedBy(): string | undefined {
    return this.parent?.stoppedBy() ?? this.reason ?? (this.remainingMs() <= 0 ? 'time budget' : undefined);
  }

  exhausted(): boolean { return this.stoppedBy() !== undefined; }

  stop(reason: string): void { this.reason ??= reason; }

  /** A budget for one step: `fraction` of what is left now. */
  share(fraction: number): Budget { return new Budget(performance.now() + fraction * Math.max(0, this.remainingMs()), this); }
}
