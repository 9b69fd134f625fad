package main

import "testing"

func TestTypingLearnersAreSpread(t *testing.T) {
	t.Parallel()
	tests := []struct{ learners, terminals int }{{20, 5}, {500, 100}, {7, 3}, {10, 0}, {10, 10}, {1, 1}}
	for _, tt := range tests {
		p := &plan{o: options{Learners: tt.learners, Terminals: tt.terminals}}
		n, firstHalf := 0, 0
		for i := range tt.learners {
			if p.learner(i).typing {
				n++
				if i < tt.learners/2 {
					firstHalf++
				}
			}
		}
		if n != tt.terminals {
			t.Errorf("%d learners, %d terminals: %d type", tt.learners, tt.terminals, n)
		}
		if tt.terminals < tt.learners && firstHalf > (tt.terminals+1)/2+1 {
			t.Errorf("%d learners, %d terminals: %d of the typing ones arrive in the first half", tt.learners, tt.terminals, firstHalf)
		}
	}
}
