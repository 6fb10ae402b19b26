/**
 * What machine produced a benchmark's numbers: core count, CPU, Node version, load average and date. Printed
 * beside every result, the way a lab notebook records its conditions, so numbers from different machines
 * (or a busy one) are never compared blindly.
 */
import { cpus, loadavg } from 'node:os';

export interface MachineInfo {
  cores: number;
  cpu: string;
  node: string;
  /** 1-minute load average when the run started (compare with `cores`: near it means the machine was busy). */
  loadAvg1m: number;
  date: string;
}

export function describeMachine(): MachineInfo {
  const list = cpus();
  return {
    cores: list.length,
    cpu: list[0]?.model.trim() ?? 'unknown CPU',
    node: process.version,
    loadAvg1m: Math.round(loadavg()[0]! * 100) / 100,
    date: new Date().toISOString(),
  };
}

export function machineLine(m: MachineInfo): string {
  return `${m.cores} cores (${m.cpu}), node ${m.node}, load ${m.loadAvg1m} at start, ${m.date.slice(0, 10)}`;
}
