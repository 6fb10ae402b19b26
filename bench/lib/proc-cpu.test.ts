import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { procCpuSeconds } from './proc-cpu.ts';

test('procCpuSeconds: utime + stime in 1/100 s, after a command name holding spaces and ")"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-proc-cpu-'));
  try {
    const path = join(dir, 'stat');
    // stat(5): pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime ...
    writeFileSync(path, '4242 (node ) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 11\n');
    assert.equal(procCpuSeconds(path), 3.25);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('procCpuSeconds reads this process on Linux', { skip: process.platform !== 'linux' }, () => {
  assert.ok(procCpuSeconds(`/proc/${process.pid}/stat`) >= 0);
});
