"""What staff read and hand on: command output, the 汇总表 export, the chart, the console wiring."""
