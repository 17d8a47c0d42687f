/**
 * What the parts that act on PostgreSQL as a whole (state reader, role change, bootstrap, replica
 * creation, rewind) are built on: the shared context and the three lower parts they act through.
 * The façade (controller.ts) builds these once and hands the same ones to every part.
 */
import type { ConfigWriter } from './config-writer.js';
import type { ControllerContext } from './controller-context.js';
import type { Postmaster } from './postmaster.js';
import type { Programs } from './programs.js';

export interface ControllerParts {
  ctx: ControllerContext;
  programs: Programs;
  config: ConfigWriter;
  postmaster: Postmaster;
}

export abstract class ControllerPart {
  protected readonly ctx: ControllerContext;
  protected readonly programs: Programs;
  protected readonly config: ConfigWriter;
  protected readonly postmaster: Postmaster;

  constructor(parts: ControllerParts) {
    this.ctx = parts.ctx;
    this.programs = parts.programs;
    this.config = parts.config;
    this.postmaster = parts.postmaster;
  }
}
