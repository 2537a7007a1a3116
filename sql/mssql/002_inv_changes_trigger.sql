-- Feeds dbo.USER_INV_CHANGES from every change to dbo.IM_INV, made by any Counterpoint workstation.
-- Generated from crates/counterpoint/src/schema.rs; applied by `cpbridge cp migrate`. Safe to run again.
-- It can never fail a register's posting: any error of its own is swallowed (the stock reconcile catches up).
-- Safe to drop: DROP TRIGGER dbo.USER_TR_IM_INV_CHANGES; cpbridge then sees stock changes at its reconcile.

CREATE OR ALTER TRIGGER dbo.USER_TR_IM_INV_CHANGES ON dbo.IM_INV
WITH EXECUTE AS OWNER
AFTER INSERT, UPDATE, DELETE
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT OFF;
    IF OBJECT_ID(N'dbo.USER_INV_CHANGES', N'U') IS NULL RETURN;
    SELECT c.ITEM_NO, c.LOC_ID INTO #cpbridge_inv_changes FROM (
        SELECT i.ITEM_NO, i.LOC_ID
        FROM inserted i
        LEFT JOIN deleted d ON d.ITEM_NO = i.ITEM_NO AND d.LOC_ID = i.LOC_ID
        WHERE d.ITEM_NO IS NULL
           OR EXISTS (SELECT i.QTY_ON_HND, i.QTY_COMMIT EXCEPT SELECT d.QTY_ON_HND, d.QTY_COMMIT)
        UNION ALL
        SELECT d.ITEM_NO, d.LOC_ID
        FROM deleted d
        WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.ITEM_NO = d.ITEM_NO AND i.LOC_ID = d.LOC_ID)
    ) c;
    IF @@ROWCOUNT = 0 RETURN;
    BEGIN TRY
        EXEC sys.sp_executesql N'INSERT INTO dbo.USER_INV_CHANGES (ITEM_NO, LOC_ID, CHANGED_DT) SELECT ITEM_NO, LOC_ID, GETUTCDATE() FROM #cpbridge_inv_changes';
    END TRY
    BEGIN CATCH
        -- Never the register's problem. A doomed transaction (XACT_STATE() = -1) cannot be saved by anyone.
        RETURN;
    END CATCH;
END;
GO
