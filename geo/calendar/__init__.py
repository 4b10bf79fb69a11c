"""Working time (工作时/工作日): office hours, China's public holidays and 调休 workdays (from the
chinese-calendar package) with an office's own days, and deadlines computed in them."""
