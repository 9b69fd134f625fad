package server

import (
	"github.com/labstack/echo/v4"
)

// routes registers every route kubelab serves: the whole HTTP surface on one screen.
func (s *Server) routes(e *echo.Echo) {
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	api := e.Group("/api/v1")
	api.POST("/auth/signup", s.signup)
	api.POST("/auth/login", s.login)
	api.POST("/auth/logout", s.logout)
	api.POST("/auth/guest", s.guest)
	api.GET("/me", s.me)
	api.PATCH("/me", s.updateMe)
	api.GET("/progress", s.progress)

	api.GET("/chapters", s.listChapters)
	api.GET("/chapters/:chapter", s.getChapter)
	api.POST("/chapters/:chapter/session", s.startSession)
	api.POST("/chapters/:chapter/tasks/:task/solution", s.revealSolution)

	api.GET("/exams", s.listExams)
	api.POST("/exams/:exam/attempts", s.startAttempt)
	api.GET("/attempts/:id", s.getAttempt)
	api.PATCH("/attempts/:id/tasks/:task", s.markAttemptTask)
	api.POST("/attempts/:id/submit", s.submitAttempt)
	api.POST("/attempts/:id/tasks/:task/retry", s.retryTask)
	api.GET("/attempts/:id/review", s.attemptReview)
	api.GET("/attempts/:id/kubeconfig", s.attemptSession(s.kubeconfig))
	api.GET("/attempts/:id/terminal", s.attemptSession(s.terminal))

	// Workshops ("events"): instructors' endpoints answer 404 to anyone
	// but the event's instructor and admins.
	api.GET("/events", s.listWorkshops)
	api.POST("/events", s.createWorkshop)
	api.GET("/events/:id", s.getWorkshop)
	api.PATCH("/events/:id", s.updateWorkshop)
	api.DELETE("/events/:id", s.deleteWorkshop)
	api.POST("/events/:id/seat-codes", s.addSeatCodes)
	api.GET("/events/:id/grid", s.getGrid)
	api.GET("/events/:id/grid/events", s.gridEvents)
	api.POST("/events/:id/learners/:user/:action", s.learnerAction)
	api.GET("/events/:id/learners/:user/terminal", s.mirrorTerminal)
	api.POST("/events/:id/learners/:user/takeover", s.askTakeover)
	api.DELETE("/events/:id/learners/:user/hand", s.lowerHandOf)
	api.POST("/events/:id/broadcast", s.broadcast)
	api.GET("/events/:id/export.csv", s.exportWorkshop("csv"))
	api.GET("/events/:id/export.json", s.exportWorkshop("json"))
	api.GET("/events/:id/audit", s.workshopAudit)
	api.POST("/join", s.joinWorkshop)
	api.GET("/users", s.searchUsers)
	api.PATCH("/users/:id", s.setRole)

	api.GET("/sessions", s.listSessions)
	api.GET("/sessions/:id", s.getSession)
	api.DELETE("/sessions/:id", s.endSession)
	api.POST("/sessions/:id/reset", s.resetSession)
	api.POST("/sessions/:id/extend", s.extendSession)
	api.GET("/sessions/:id/kubeconfig", s.kubeconfig)
	api.GET("/sessions/:id/tasks", s.listTasks)
	api.POST("/sessions/:id/tasks/:task/check", s.checkTask)
	api.GET("/sessions/:id/events", s.sessionEvents)
	api.POST("/sessions/:id/activity", s.activity)
	api.GET("/sessions/:id/terminal", s.terminal)
	api.GET("/sessions/:id/files", s.listFiles)
	api.GET("/sessions/:id/files/*", s.readFile)
	api.PUT("/sessions/:id/files/*", s.saveFile)
	api.POST("/sessions/:id/hand", s.raiseHand)
	api.DELETE("/sessions/:id/hand", s.lowerHand)
	api.POST("/sessions/:id/takeover", s.answerTakeover)

	// kubectl on the learner's own machine, with a downloaded kubeconfig.
	e.Any(kubeProxyRoute, s.kubeProxy)

	if s.opts.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(s.opts.Metrics))
	}
}
