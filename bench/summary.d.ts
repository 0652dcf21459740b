export declare function writeSummary(dir: string): string;
