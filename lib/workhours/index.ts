/** Punches → daily worked hours per employee (pure; see work-hours.ts for the rules). */
export * from './work-hours';
